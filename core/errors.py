"""The one exception tree of the model library.

Every error the core raises is a ``ModelLibraryError``. Each class carries a stable snake_case ``code``
(used in ``{"error": {"code", "message"}}`` HTTP bodies and in CLI ``--json`` output) and the HTTP status
the glue answers with. Where a stdlib exception means the same thing it is a co-parent, so callers that
know nothing of us can still catch ``LookupError`` or ``ValueError``. Messages say what failed, for which
value, and what to do about it.

    ModelLibraryError
    ├── InvalidInput (ValueError)                 400 invalid_input
    │   ├── UnsafePath                            400 unsafe_path
    │   ├── InvalidModelFile                      422 invalid_model_file
    │   ├── InvalidConfig                         400 invalid_config
    │   ├── InvalidImage                          415 invalid_image
    │   └── BodyTimeout                           408 body_timeout
    ├── NotFound (LookupError)                    404 not_found
    │   ├── ModelNotFound                         404 model_not_found
    │   └── JobNotFound                           404 job_not_found
    ├── Forbidden (PermissionError)               403 forbidden
    │   └── HostNotAllowed                        403 host_not_allowed
    ├── Conflict                                  409 conflict
    │   ├── SourceChanged                         409 source_changed
    │   ├── LibraryRelocated                      409 library_relocated
    │   ├── LinkConflict                          409 link_conflict
    │   └── UploadOffsetMismatch                  409 upload_offset_mismatch
    ├── StorageError (OSError)                    507 storage_error
    │   ├── InsufficientSpace                     507 insufficient_space
    │   └── DestinationNotWritable                507 destination_not_writable
    ├── CatalogError                              500 catalog_error
    │   ├── CatalogLocked                         503 catalog_locked
    │   ├── CatalogUnavailable                    503 catalog_unavailable
    │   └── CatalogCorrupt                        500 catalog_corrupt
    ├── NetworkError (ConnectionError)            502 network_error
    │   ├── CircuitOpen                           503 circuit_open
    │   ├── RateLimited                           503 rate_limited
    │   ├── HashMismatch                          502 hash_mismatch
    │   └── UpstreamError                         502 upstream_error
    ├── Cancelled                                 409 cancelled
    └── Busy                                      429 busy
        └── TooManyUploads                        429 too_many_uploads
"""

from __future__ import annotations


class ModelLibraryError(Exception):
    """Root of every error raised by the model library."""

    code: str = "model_library_error"
    http_status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": self.code, "message": self.message}}


class InvalidInput(ModelLibraryError, ValueError):
    code = "invalid_input"
    http_status = 400


class UnsafePath(InvalidInput):
    """A path or name from outside would escape its root or is not portable."""

    code = "unsafe_path"


class InvalidModelFile(InvalidInput):
    """The file is not what it claims to be, or its header is hostile or broken."""

    code = "invalid_model_file"
    http_status = 422


class InvalidConfig(InvalidInput):
    code = "invalid_config"


class InvalidImage(InvalidInput):
    """An image we will not decode: not PNG/JPEG/WebP, damaged, or too large (a decompression bomb)."""

    code = "invalid_image"
    http_status = 415


class BodyTimeout(InvalidInput):
    """A request's body did not arrive in time (trickled to hold what the request holds): send it again."""

    code = "body_timeout"
    http_status = 408


class NotFound(ModelLibraryError, LookupError):
    code = "not_found"
    http_status = 404


class ModelNotFound(NotFound):
    code = "model_not_found"


class JobNotFound(NotFound):
    code = "job_not_found"


class Forbidden(ModelLibraryError, PermissionError):
    code = "forbidden"
    http_status = 403


class HostNotAllowed(Forbidden):
    """A network destination outside the allowlist (SSRF guard)."""

    code = "host_not_allowed"


class Conflict(ModelLibraryError):
    code = "conflict"
    http_status = 409


class SourceChanged(Conflict):
    """The source file changed (size, mtime or inode) while we read it."""

    code = "source_changed"


class LibraryRelocated(Conflict):
    """The library folder was moved; writes wait until the user confirms the new place."""

    code = "library_relocated"


class LinkConflict(Conflict):
    code = "link_conflict"


class UploadOffsetMismatch(Conflict):
    """Bytes were sent for another offset than the session's; ``offset`` says where to resume."""

    code = "upload_offset_mismatch"

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset
        self.details = {"offset": offset}


class StorageError(ModelLibraryError, OSError):
    code = "storage_error"
    http_status = 507


class InsufficientSpace(StorageError):
    code = "insufficient_space"


class DestinationNotWritable(StorageError):
    code = "destination_not_writable"


class CatalogError(ModelLibraryError):
    code = "catalog_error"
    http_status = 500


class CatalogLocked(CatalogError):
    code = "catalog_locked"
    http_status = 503


class CatalogUnavailable(CatalogError):
    """The catalog file cannot be read now (permissions, a failing drive), but it is not damaged."""

    code = "catalog_unavailable"
    http_status = 503


class CatalogCorrupt(CatalogError):
    code = "catalog_corrupt"


class CatalogTooNew(CatalogError):
    """The catalog was upgraded by a newer version: this one would index rows the newer way only in part
    (its triggers are the newer ones), so it does not open it rather than damage it."""

    code = "catalog_too_new"
    http_status = 503


class NetworkError(ModelLibraryError, ConnectionError):
    code = "network_error"
    http_status = 502


class CircuitOpen(NetworkError):
    code = "circuit_open"
    http_status = 503


class RateLimited(NetworkError):
    code = "rate_limited"
    http_status = 503


class HashMismatch(NetworkError):
    code = "hash_mismatch"


class UpstreamError(NetworkError):
    """The Hub (or another server) answered, but not in the shape its API promises."""

    code = "upstream_error"


class Cancelled(ModelLibraryError):
    code = "cancelled"
    http_status = 409


class Busy(ModelLibraryError):
    """A bounded queue is full; try again when running work finishes."""

    code = "busy"
    http_status = 429


class TooManyUploads(Busy):
    """Too many upload sessions are open (in total or from one client); finish or cancel some first."""

    code = "too_many_uploads"
