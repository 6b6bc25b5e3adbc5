// Open MPI defines its handles as macros over the addresses of library globals, which Swift
// does not import; these return them.
#include <mpi.h>

static inline MPI_Comm cnnc_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype cnnc_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Datatype cnnc_mpi_datatype_null(void) { return MPI_DATATYPE_NULL; }
static inline void *cnnc_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Errhandler cnnc_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
