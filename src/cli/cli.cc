namespace vane::cli {}
