// A map kept as a vector sorted by key: the few fields of a record, looked up by field number.
// For a handful of entries it allocates once instead of once per entry, and its entries sit
// together in memory; a bootstrap or a first import builds and frees millions of them.
#pragma once

#include <algorithm>
#include <initializer_list>
#include <tuple>
#include <utility>
#include <vector>

namespace bosai {

template <class K, class V>
class FlatMap {
 public:
  using value_type = std::pair<K, V>;
  using iterator = typename std::vector<value_type>::iterator;
  using const_iterator = typename std::vector<value_type>::const_iterator;

  FlatMap() = default;
  FlatMap(std::initializer_list<value_type> init) {
    for (const auto& [k, v] : init) emplace(k, v);
  }

  iterator begin() { return items_.begin(); }
  iterator end() { return items_.end(); }
  const_iterator begin() const { return items_.begin(); }
  const_iterator end() const { return items_.end(); }
  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  void clear() { items_.clear(); }
  void reserve(size_t n) { items_.reserve(n); }

  iterator find(const K& k) {
    auto it = LowerBound(k);
    return it != items_.end() && it->first == k ? it : items_.end();
  }
  const_iterator find(const K& k) const {
    auto it = const_cast<FlatMap*>(this)->LowerBound(k);
    return it != items_.end() && it->first == k ? const_iterator(it) : end();
  }
  size_t count(const K& k) const { return find(k) != end() ? 1 : 0; }
  const V& at(const K& k) const { return find(k)->second; }  // k must be present

  V& operator[](const K& k) {
    auto it = LowerBound(k);
    if (it == items_.end() || it->first != k) it = items_.emplace(it, k, V());
    return it->second;
  }
  // Inserts (k, v) unless k is present; like std::map::emplace.
  template <class... Args>
  std::pair<iterator, bool> emplace(const K& k, Args&&... v) {
    auto it = LowerBound(k);
    if (it != items_.end() && it->first == k) return {it, false};
    return {items_.emplace(it, std::piecewise_construct, std::forward_as_tuple(k),
                           std::forward_as_tuple(std::forward<Args>(v)...)),
            true};
  }
  size_t erase(const K& k) {
    auto it = find(k);
    if (it == items_.end()) return 0;
    items_.erase(it);
    return 1;
  }
  iterator erase(iterator it) { return items_.erase(it); }

  bool operator==(const FlatMap& o) const { return items_ == o.items_; }

 private:
  iterator LowerBound(const K& k) {
    // Fields mostly come in order (appended), and records have a dozen or so: a linear scan
    // beats a binary search.
    if (items_.empty() || items_.back().first < k) return items_.end();
    return std::find_if(items_.begin(), items_.end(),
                        [&](const value_type& e) { return !(e.first < k); });
  }

  std::vector<value_type> items_;
};

}  // namespace bosai
