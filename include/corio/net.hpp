// Networking: addresses and sockets.
#pragma once

#include "corio/net/socket_addr.hpp"
#include "corio/net/tcp.hpp"
