#include "footprint/energy_counter.h"

namespace sobre::footprint {

const char* ComponentName(Component c) {
  switch (c) {
    case Component::kCpu: return "cpu";
    case Component::kDram: return "dram";
    case Component::kGpu: return "gpu";
    case Component::kPlatform: return "platform";
    case Component::kRam: return "ram";
  }
  return "unknown";
}

}  // namespace sobre::footprint
