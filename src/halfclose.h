/*
 * halfclose: serve a client that shut down its sending side after its
 * request (shutdown(SHUT_WR): nc, some scripts and test tools) and is
 * still reading.
 *
 * evhttp 2.1.12 turns reading back on with every reply write and takes
 * the end of stream it then reads for a broken connection, cutting the
 * reply short.  So once the end of stream is seen, reading is suspended
 * for the rest of the connection's life with a suspend flag of our own,
 * which evhttp's bufferevent_enable calls do not lift (libevent's
 * bufferevent_suspend_read_, exported by 2.1 though not in its headers),
 * and the request is marked "Connection: close" so that evhttp ends the
 * connection once the reply is written.
 */
#ifndef RP_HALFCLOSE_H
#define RP_HALFCLOSE_H

struct bufferevent;
struct evhttp_request;

/* The client of req (on bev) half-closed: answer it, then close. */
void halfclose_client(struct evhttp_request *req, struct bufferevent *bev);
/*
 * The reply to req is about to be written: an end of stream read while
 * it is (a client that half-closes just then) must not cut it, so reading
 * is suspended until evhttp has written the whole reply (its
 * on-complete callback), then resumes for the next request.  A client
 * that is really gone shows as a failed write instead.
 */
void halfclose_guard_reply(struct evhttp_request *req, struct bufferevent *bev);

#endif
