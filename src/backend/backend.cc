// The endpoint table shared by every Backend implementation.
#include "backend/backend.h"

namespace sobre::backend {

const char* EndpointPath(Endpoint e) {
  switch (e) {
    case Endpoint::kChatCompletions: return "/chat/completions";
    case Endpoint::kCompletions: return "/completions";
    case Endpoint::kEmbeddings: return "/embeddings";
  }
  return "/chat/completions";
}

}  // namespace sobre::backend
