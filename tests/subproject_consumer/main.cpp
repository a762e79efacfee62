#include <corio/corio.hpp>
corio::Task<int> async_main() { co_return 0; }
int main() { return corio::run(async_main()); }
