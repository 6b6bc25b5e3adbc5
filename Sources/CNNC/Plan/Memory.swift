import Foundation

extension ExecutionPlan {
  /// Bytes an executor of this plan allocates: the arena, the weights and, in training, their
  /// gradients.
  public var executorBytes: Int {
    let parameterBytes = max(parameterFloats, 1) * 4
    let arena = max(arenaBytes, Planner.alignment)
    return arena + parameterBytes + (options.mode == .training ? parameterBytes : 4)
  }

  /// Refuses, before anything is allocated, a plan whose executor (plus `extraBytes` the
  /// caller needs beside it) exceeds the machine's physical memory.
  public func checkFitsInMemory(extraBytes: Int = 0) throws(PlanError) {
    let (total, overflow) = executorBytes.addingReportingOverflow(extraBytes)
    try Memory.checkFits(
      overflow ? Int.max : total, what: "the \(options.mode) plan at batch \(options.batch)")
  }
}

/// The machine's memory, and allocations that fail with an error instead of a trap.
enum Memory {
  /// Installed physical memory in bytes.
  static var physicalBytes: Int {
    Int(sysconf(Int32(_SC_PHYS_PAGES))) * Int(sysconf(Int32(_SC_PAGESIZE)))
  }

  /// `bytes` zeroed bytes aligned to `alignment`, or nil when the system refuses; free with free().
  static func allocateZeroed(_ bytes: Int, alignment: Int) -> UnsafeMutableRawPointer? {
    var memory: UnsafeMutableRawPointer?
    guard posix_memalign(&memory, alignment, bytes) == 0, let memory else { return nil }
    memset(memory, 0, bytes)
    return memory
  }

  /// Refuses `bytes` that exceed the machine's physical memory: such an allocation may succeed
  /// (Linux overcommits) and then end in the out-of-memory killer while it is zeroed.
  static func checkFits(_ bytes: Int, what: String) throws(PlanError) {
    guard bytes <= physicalBytes else {
      throw PlanError(
        message: "\(what) needs \(describe(bytes)), more than this machine's "
          + "\(describe(physicalBytes)) of memory")
    }
  }

  /// e.g. "295,424,203,520 bytes (275.1 GiB)"
  static func describe(_ bytes: Int) -> String {
    let grouped = bytes.formatted(.number.grouping(.automatic).locale(Locale(identifier: "en_US")))
    return String(format: "%@ bytes (%.1f GiB)", grouped, Double(bytes) / 1_073_741_824)
  }
}
