#pragma once
// safetensors files (the Hugging Face format, read by PyTorch tooling): an 8-byte
// little-endian header length, a JSON header mapping each tensor name to its dtype, shape
// and byte range, an optional "__metadata__" map of strings, then the raw little-endian
// data. Writes are atomic: a temporary file in the same folder, flushed and fsynced, then
// renamed over the target, so an interrupted write never damages the previous file.
#include <map>
#include <string>

#include "core/tensor.hpp"

namespace intrain {

struct SafetensorsFile {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> metadata;
};

void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});
// Validates the whole file (a regular file; header JSON, dtypes, shapes and offsets without
// overflow, tensors tiling the data exactly; the CRC-32 of the header's entries and the data
// when the file carries one, as every file save_safetensors writes does) and throws an Error naming the file and
// the problem. A PyTorch pickle gets an error saying how to save it as safetensors. Tensors
// stored as F16, BF16 or F64 are read as f32, I64 as i32 when every value fits
// (core/stored_dtypes.hpp); what a file stores is not lost: the checksum covers the stored tags.
SafetensorsFile load_safetensors(const std::string& path);
// The same from bytes in memory; `name` labels the errors.
SafetensorsFile parse_safetensors(const std::string& bytes, const std::string& name);

// INTRAIN_SKIP_CHECKSUM=1 (for speed, or to rescue a damaged file) skips the CRC check.
bool skip_checksums();

// Writes `bytes` to `path` atomically (temporary file, fsync, rename, fsync of the folder).
void write_file_atomically(const std::string& path, const std::string& bytes);

// Deletes the temporary files (".NAME.tmpPID") that writes killed midway left in `folder`,
// those of processes no longer running; returns how many.
int64_t remove_abandoned_temporaries(const std::string& folder);

}  // namespace intrain
