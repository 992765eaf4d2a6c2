#pragma once
// What the server remembers of each client address (the last client port it used, when it last
// spoke HTTP), bounded: a classroom has dozens of addresses, a scan or a load test from many
// addresses must not grow the server without end.

#include <cstddef>
#include <optional>
#include <string>
#include <unordered_map>

namespace portdemo {

/// A value remembered per client address, at most `bound` addresses: when one more would not
/// fit, everything is forgotten at once (the memory is a hint, never a fact a report depends
/// on, and clearing is O(1) amortised where evicting one by one would need an order).
template <typename Value>
class address_memory {
 public:
  static constexpr std::size_t default_bound = 4096;

  explicit address_memory(std::size_t bound = default_bound) : bound_(bound) {}

  /// The value remembered for `address`, or nullptr.
  const Value* find(const std::string& address) const {
    auto it = values_.find(address);
    return it == values_.end() ? nullptr : &it->second;
  }

  /// Remembers `value` for `address`; returns the value it replaces, if one was there.
  std::optional<Value> remember(const std::string& address, const Value& value) {
    if (values_.size() >= bound_ && values_.find(address) == values_.end()) values_.clear();
    auto [it, fresh] = values_.try_emplace(address, value);
    if (fresh) return std::nullopt;
    std::optional<Value> previous(std::move(it->second));
    it->second = value;
    return previous;
  }

  /// Addresses remembered now.
  std::size_t size() const noexcept { return values_.size(); }
  /// The most addresses remembered at once.
  std::size_t bound() const noexcept { return bound_; }

 private:
  std::size_t bound_;
  std::unordered_map<std::string, Value> values_;
};

}  // namespace portdemo
