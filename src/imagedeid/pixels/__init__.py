"""Burned-in text in pixel data: decode, detect (OCR plugins and known regions), mask,
re-encode and verify. Pure engines: bytes and arrays in, arrays and records out."""
