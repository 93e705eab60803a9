namespace vane::daemon {}
