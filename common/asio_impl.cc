// The single translation unit that compiles Asio's and Beast's out-of-line code
// (BOOST_ASIO_SEPARATE_COMPILATION / BOOST_BEAST_SEPARATE_COMPILATION are set project-wide), so the
// others only pay for the templates they use.
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
