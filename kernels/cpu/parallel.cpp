#include "kernels/cpu/parallel.h"

#include <omp.h>

#include <algorithm>

namespace sluice::cpu {

void set_thread_count(int n) { omp_set_num_threads(n > 0 ? n : omp_get_num_procs()); }

int thread_count() { return omp_get_max_threads(); }

void parallel_for(int64_t n, int64_t grain, FunctionRef<void(int64_t, int64_t)> fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t chunks = std::min<int64_t>(thread_count(), (n + grain - 1) / grain);
  if (chunks <= 1) {
    fn(0, n);
    return;
  }
#pragma omp parallel num_threads(static_cast<int>(chunks))
  {
    const int64_t t = omp_get_thread_num();
    const int64_t nt = omp_get_num_threads();
    const int64_t begin = n * t / nt;
    const int64_t end = n * (t + 1) / nt;
    if (begin < end) fn(begin, end);
  }
}

void parallel_for_each(int64_t n, FunctionRef<void(int64_t)> fn) {
  if (n <= 0) return;
  const int threads = static_cast<int>(std::min<int64_t>(thread_count(), n));
  if (threads <= 1) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int64_t i = 0; i < n; ++i) fn(i);
}

}  // namespace sluice::cpu
