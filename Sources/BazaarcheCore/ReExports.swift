@_exported import HTTPTypes
// Feature modules build on these in every file; re-exported so each need not list them.
@_exported import Hummingbird
@_exported import Logging
@_exported import PostgresNIO
