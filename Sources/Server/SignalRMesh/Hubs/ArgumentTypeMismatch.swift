/// The argument didn't have the expected JSON type.
struct ArgumentTypeMismatch: Error {}
