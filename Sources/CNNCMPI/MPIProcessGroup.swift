import CMPI
import CNNC

/// The processes an MPI launcher (`mpirun`, Slurm's `srun`) started, as a `ProcessGroup`:
/// MPI_COMM_WORLD, with errors returned (and thrown) rather than aborting. Make one per
/// process, before any other thread calls MPI, and `finalize()` it before a clean exit.
public final class MPIProcessGroup: ProcessGroup {
  public let rank: Int
  public let size: Int
  private var finalized = false

  /// Whether an MPI launcher started this process: Open MPI's mpirun, or a PMI/PMIx launcher
  /// such as srun, sets these.
  public static func isLaunched(environment: [String: String]) -> Bool {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"].contains { environment[$0] != nil }
  }

  public init() throws(ProcessGroupError) {
    var provided: Int32 = 0
    // Only the thread that made the group calls MPI (the trainer's worker threads do not).
    try Self.check(MPI_Init_thread(nil, nil, Int32(MPI_THREAD_FUNNELED), &provided), "MPI_Init")
    try Self.check(
      MPI_Comm_set_errhandler(cnnc_mpi_comm_world(), cnnc_mpi_errors_return()),
      "MPI_Comm_set_errhandler")
    var rank: Int32 = 0
    var size: Int32 = 0
    try Self.check(MPI_Comm_rank(cnnc_mpi_comm_world(), &rank), "MPI_Comm_rank")
    try Self.check(MPI_Comm_size(cnnc_mpi_comm_world(), &size), "MPI_Comm_size")
    self.rank = Int(rank)
    self.size = Int(size)
  }

  /// Ends MPI for this process; call it once, after the last collective, on every rank.
  public func finalize() {
    guard !finalized else { return }
    finalized = true
    MPI_Finalize()
  }

  public func allGather(_ buffer: UnsafeMutableRawBufferPointer) throws(ProcessGroupError) {
    precondition(buffer.count % size == 0, "allGather: the buffer holds size equal parts")
    let count = try Self.count(buffer.count / size, "all-gather")
    try Self.check(
      MPI_Allgather(
        cnnc_mpi_in_place(), 0, cnnc_mpi_datatype_null(), buffer.baseAddress, count,
        cnnc_mpi_byte(), cnnc_mpi_comm_world()), "MPI_Allgather")
  }

  public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int)
    throws(ProcessGroupError)
  {
    let count = try Self.count(buffer.count, "broadcast")
    try Self.check(
      MPI_Bcast(buffer.baseAddress, count, cnnc_mpi_byte(), Int32(root), cnnc_mpi_comm_world()),
      "MPI_Bcast")
  }

  /// MPI counts are 32-bit.
  private static func count(_ bytes: Int, _ what: String) throws(ProcessGroupError) -> Int32 {
    guard let count = Int32(exactly: bytes) else {
      throw ProcessGroupError(
        "an \(what) of \(bytes) bytes is more than one MPI call moves (\(Int32.max))")
    }
    return count
  }

  private static func check(_ code: Int32, _ call: String) throws(ProcessGroupError) {
    guard code != MPI_SUCCESS else { return }
    var text = [CChar](repeating: 0, count: Int(MPI_MAX_ERROR_STRING) + 1)
    var length: Int32 = 0
    MPI_Error_string(code, &text, &length)
    let message = String(
      decoding: text.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    throw ProcessGroupError("\(call) failed: \(message)")
  }
}
