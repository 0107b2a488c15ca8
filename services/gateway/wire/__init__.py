"""The wire forms of a document, without HTTP: media types, and reading (JSON, YAML, XML) within the
limits on a body's shape, and writing them."""
