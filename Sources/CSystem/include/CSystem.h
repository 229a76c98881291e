#ifndef CSYSTEM_H
#define CSYSTEM_H

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdint.h>

/// accept4 is hidden from Swift because Glibc's module map is built without _GNU_SOURCE.
int csystem_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);

/// epoll_event is packed on x86_64; these accessors keep Swift from guessing its layout.
int csystem_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data);
int csystem_epoll_wait(int epfd, uint32_t *events, uint64_t *datas, int maxevents, int timeout_ms);

#endif
