#pragma once

#include <cstdint>

#include <boost/asio/buffer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/optional/optional.hpp>

namespace coder::harness {

/// A Beast body that keeps only the number of bytes it was given: an answer of any size (a download
/// in flight) is read whole in fixed memory. Read-only (responses the harness receives).
struct CountingBody {
  /// A class with an initialiser: Beast's message default-initialises its body, which would leave
  /// a plain integer indeterminate until the first byte of the body.
  struct value_type {
    uint64_t bytes = 0;
  };

  class reader {
   public:
    template <bool isRequest, class Fields>
    reader(boost::beast::http::header<isRequest, Fields>&, value_type& bytes) : bytes_(bytes) {}
    void init(const boost::optional<uint64_t>&, boost::beast::error_code& ec) { ec = {}; }
    template <class ConstBufferSequence>
    std::size_t put(const ConstBufferSequence& buffers, boost::beast::error_code& ec) {
      const std::size_t n = boost::asio::buffer_size(buffers);
      bytes_.bytes += n;
      ec = {};
      return n;
    }
    void finish(boost::beast::error_code& ec) { ec = {}; }

   private:
    value_type& bytes_;
  };
};

}  // namespace coder::harness
