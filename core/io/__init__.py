"""File I/O: one-read hashing (hashing), durable file operations (fileops), the path validator (paths),
drives (drives). Import the submodule you need: this package imports nothing, so loading it stays cheap."""
