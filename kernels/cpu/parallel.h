// Work splitting for the CPU backend's kernels.
//
// Threads come from the OpenMP team of the calling thread: Debian's oneDNN is
// built with OpenMP, so its GEMMs already run on that team. Putting our fused
// kernels on the same team gives one pool, sized by set_thread_count(), instead
// of two sets of workers spinning against each other on the same cores.
//
// Contract: set_thread_count() sets the size for the calling thread only (the
// backend's worker calls it once at start). fn must not throw.
#pragma once
#include <cstdint>
#include <type_traits>
#include <utility>

namespace sluice::cpu {

// Non-owning reference to a callable: no allocation, unlike std::function.
template <class Sig>
class FunctionRef;
template <class R, class... A>
class FunctionRef<R(A...)> {
 public:
  template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, FunctionRef>>>
  FunctionRef(F&& f)  // NOLINT(google-explicit-constructor): used like a lambda parameter
      : obj_(const_cast<void*>(static_cast<const void*>(&f))),
        call_([](void* o, A... a) -> R { return (*static_cast<std::remove_reference_t<F>*>(o))(std::forward<A>(a)...); }) {}
  R operator()(A... a) const { return call_(obj_, std::forward<A>(a)...); }

 private:
  void* obj_;
  R (*call_)(void*, A...);
};

// Threads used by parallel_for and oneDNN on the calling thread (0 = all cores).
void set_thread_count(int n);
int thread_count();

// Calls fn(begin, end) on contiguous chunks covering [0, n), one chunk per
// thread, each at least `grain` long (small n runs inline on the caller).
void parallel_for(int64_t n, int64_t grain, FunctionRef<void(int64_t, int64_t)> fn);

// Calls fn(i) for every i in [0, n), handing items to threads one at a time:
// for items of uneven cost (attention over sequences of different lengths).
void parallel_for_each(int64_t n, FunctionRef<void(int64_t)> fn);

}  // namespace sluice::cpu
