// A Backend over several backends (one per GPU): batches are dealt
// round-robin, tickets are the wrapper's own and still complete in submit
// order across devices (a small reorder buffer holds an early finisher until
// the batches before it are done). Backend-agnostic plain C++, so it is
// tested with CPU backends on machines without GPUs.
//
// Threading as engine::Backend: submit/poll/wait from one thread; callbacks
// arrive on the inner backends' completion threads, one at a time.
#pragma once
#include <memory>
#include <vector>

#include "src/engine/backend.h"

namespace sluice::cuda {

// `backends` non-empty, all for the same model; `max_in_flight` bounds the
// wrapper's outstanding tickets (submit blocks beyond it).
std::unique_ptr<engine::Backend> make_round_robin_backend(
    std::vector<std::unique_ptr<engine::Backend>> backends, int max_in_flight);

}  // namespace sluice::cuda
