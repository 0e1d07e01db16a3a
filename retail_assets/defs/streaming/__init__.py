"""Streaming half of the asset graph: Bronze event tables, the outbox, the stream job and its sensor."""
