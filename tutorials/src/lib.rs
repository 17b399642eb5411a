//! Shared pieces of the chapters.
