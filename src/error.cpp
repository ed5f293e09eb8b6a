#include "hostsweep/error.hpp"

namespace hostsweep {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "hostsweep"; }
  std::string message(int value) const override {
    switch (static_cast<Errc>(value)) {
      case Errc::invalid_argument: return "invalid argument";
      case Errc::not_found: return "not found";
      case Errc::already_exists: return "already exists";
      case Errc::corrupt_file: return "corrupt or unrecognised file";
      case Errc::io_error: return "i/o error";
    }
    return "unknown hostsweep error";
  }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const Category category;
  return category;
}

std::error_code make_error_code(Errc e) noexcept { return {static_cast<int>(e), error_category()}; }

}  // namespace hostsweep
