// The holder translation unit of a precompiled-header group (cmake/precompiled_headers.cmake).
