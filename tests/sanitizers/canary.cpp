// A program with one deliberate bug per mode, built only with RNNX_SANITIZE: the ctest cases
// sanitizer_canary_* (tests/CMakeLists.txt) pass only when the sanitizer reports it, so a build
// where the -fsanitize flags silently went missing fails instead of passing every test unchecked.
// data-race is ThreadSanitizer's: scripts/tsan.sh runs it with the options and suppressions of
// its test run and needs the report.
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s use-after-free|leak|signed-overflow|data-race\n", argv[0]);
    return 2;
  }
  volatile int index = 8;  // volatile: the compiler cannot see the bug and drop or flag it
  if (std::strcmp(argv[1], "use-after-free") == 0) {
    volatile int* volatile data = static_cast<int*>(std::malloc(8 * sizeof(int)));
    std::free(const_cast<int*>(data));
    data[0] = index;  // written after the free (volatile: a store the compiler must keep)
  } else if (std::strcmp(argv[1], "leak") == 0) {
    int* volatile data = static_cast<int*>(std::malloc(8 * sizeof(int)));
    data[0] = index;
    data = nullptr;  // the only pointer is gone
  } else if (std::strcmp(argv[1], "signed-overflow") == 0) {
    volatile int big = INT_MAX - 8 + index;
    std::printf("%d\n", big + 1);
  } else if (std::strcmp(argv[1], "data-race") == 0) {
    // Two threads write one int with nothing ordering them.
    int shared = 0;
    const auto write = [&shared, &index] { shared = shared + index; };
    std::thread first(write), second(write);
    first.join();
    second.join();
    std::printf("%d\n", shared);
  } else {
    std::fprintf(stderr, "unknown mode %s\n", argv[1]);
    return 2;
  }
  std::puts("no sanitizer report");
  return 0;
}
