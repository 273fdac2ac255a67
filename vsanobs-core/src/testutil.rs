//! Parse exposition text back into samples and compare a registry with expected text.
