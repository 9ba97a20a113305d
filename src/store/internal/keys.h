// Rules for API keys shared by both store backends: what a valid key is and what of its secret
// may be shown in listings.
#ifndef SOBRE_STORE_INTERNAL_KEYS_H_
#define SOBRE_STORE_INTERNAL_KEYS_H_

#include <string>
#include <string_view>

#include "core/status.h"
#include "store/store.h"

namespace sobre::store::internal {

// InvalidArgument for an empty or over-long name, negative limits, or (when `secret` is given) an
// empty secret.
Status ValidateNewKey(const NewKey& key);
Status ValidateSecret(std::string_view secret);

// The tenant a key gets: `key.tenant`, or its name when empty.
std::string TenantOf(const NewKey& key);

// The part of `secret` shown in listings: "sk-sobre-" and 4 characters for generated secrets, at
// most a quarter (and never more than 4 characters) of any other secret.
std::string SecretPrefix(std::string_view secret);

}  // namespace sobre::store::internal

#endif  // SOBRE_STORE_INTERNAL_KEYS_H_
