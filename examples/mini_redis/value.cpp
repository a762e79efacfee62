// Str's shared allocation and Hash (see value.hpp).
#include "value.hpp"

#include <new>

namespace mini_redis {

Str::Str(std::string_view bytes) {
    if (bytes.size() <= kInline) {
        std::memcpy(data_.data(), bytes.data(), bytes.size());
        data_[kTag] = static_cast<unsigned char>(bytes.size());
        return;
    }
    void* memory = ::operator new(sizeof(Block) + bytes.size());
    auto* b = new (memory) Block{{1}, bytes.size()};
    std::memcpy(b->bytes(), bytes.data(), bytes.size());
    std::memcpy(data_.data(), &b, sizeof b);
    data_[kTag] = kSharedTag;
}

void Str::release() noexcept {
    if (!is_shared()) return;
    Block* b = block();
    // acq_rel: the last owner's free comes after every other owner's reads.
    if (b->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        b->~Block();
        ::operator delete(b);
    }
}

std::size_t Hash::position(std::string_view field) const {
    if (!index_.empty()) {
        auto it = index_.find(field);
        return it == index_.end() ? fields_.size() : it->second;
    }
    for (std::size_t i = 0; i < fields_.size(); ++i) {
        if (fields_[i].first.view() == field) return i;
    }
    return fields_.size();
}

const Str* Hash::find(std::string_view field) const {
    std::size_t i = position(field);
    return i == fields_.size() ? nullptr : &fields_[i].second;
}

bool Hash::set(std::string_view field, Str value) {
    std::size_t i = position(field);
    if (i != fields_.size()) {
        fields_[i].second = std::move(value);
        return false;
    }
    // The views in index_ point into the Strs (an inline one's bytes move
    // with the vector), so the index is rebuilt whenever the vector grows.
    std::size_t capacity = fields_.capacity();
    fields_.emplace_back(Str(field), std::move(value));
    if (fields_.size() > kIndexAbove) {
        if (fields_.capacity() != capacity || index_.empty()) {
            index_.clear();
            for (std::size_t j = 0; j < fields_.size(); ++j) index_.emplace(fields_[j].first.view(), j);
        } else {
            index_.emplace(fields_.back().first.view(), fields_.size() - 1);
        }
    }
    return true;
}

bool Hash::erase(std::string_view field) {
    std::size_t i = position(field);
    if (i == fields_.size()) return false;
    if (index_.empty()) {
        fields_.erase(fields_.begin() + static_cast<std::ptrdiff_t>(i));  // keeps insertion order
        return true;
    }
    index_.erase(fields_[i].first.view());
    if (i + 1 != fields_.size()) {
        index_.erase(fields_.back().first.view());
        fields_[i] = std::move(fields_.back());
        index_.emplace(fields_[i].first.view(), i);
    }
    fields_.pop_back();
    if (fields_.size() <= kIndexAbove / 2) index_.clear();  // back to scanning
    return true;
}

std::string_view type_name(ValueType type) noexcept {
    switch (type) {
        case ValueType::String:
            return "string";
        case ValueType::List:
            return "list";
        case ValueType::Hash:
            return "hash";
    }
    return "none";
}

}  // namespace mini_redis
