// Networking: addresses and sockets.
#pragma once

#include "corio/net/lookup.hpp"
#include "corio/net/socket_addr.hpp"
#include "corio/net/tcp.hpp"
#include "corio/net/udp.hpp"
#include "corio/net/unix.hpp"
