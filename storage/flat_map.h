// Containers for many small entries. FlatMap: a map kept as a vector sorted by key: the few fields
// of a record, looked up by field number. For a handful of entries it allocates once instead of
// once per entry, and its entries sit together in memory; a bootstrap or a first import builds and
// frees millions of them.
#pragma once

#include <algorithm>
#include <cstddef>
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

// A hash table in one vector of slots, probed linearly, for millions of small entries (an
// import's households, a scan's tallies): no node or pointer per entry. A slot equal to Slot{}
// is empty, so a stored slot must differ from it. The caller hashes keys and matches them
// against slots; `slot_hash` gives the same hash for a stored slot when the table grows.
template <class Slot>
class ProbedTable {
 public:
  // The slot MATCHES accepts among those of HASH, or else the empty slot where it goes (room
  // made first), which the caller fills at once: (slot, whether it was found).
  template <class Matches, class SlotHash>
  std::pair<Slot*, bool> Insert(size_t hash, Matches matches, SlotHash slot_hash) {
    if ((size_ + 1) * 4 > slots_.size() * 3) Grow(slot_hash);
    Slot* slot = Probe(hash, matches);
    const bool found = !(*slot == Slot{});
    if (!found) ++size_;
    return {slot, found};
  }
  // The slot MATCHES accepts among those of HASH, or null.
  template <class Matches>
  Slot* Find(size_t hash, Matches matches) {
    if (slots_.empty()) return nullptr;
    Slot* slot = Probe(hash, matches);
    return *slot == Slot{} ? nullptr : slot;
  }
  std::vector<Slot>& slots() { return slots_; }  // empty ones among them
  size_t size() const { return size_; }

 private:
  template <class Matches>
  Slot* Probe(size_t hash, Matches matches) {
    const size_t mask = slots_.size() - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
      if (slots_[i] == Slot{} || matches(slots_[i])) return &slots_[i];
    }
  }
  template <class SlotHash>
  void Grow(SlotHash slot_hash) {
    std::vector<Slot> old = std::exchange(slots_, {});
    slots_.resize(old.empty() ? 1024 : old.size() * 2);
    for (const Slot& s : old) {
      if (!(s == Slot{})) *Probe(slot_hash(s), [](const Slot&) { return false; }) = s;
    }
  }

  std::vector<Slot> slots_;
  size_t size_ = 0;
};

}  // namespace bosai
