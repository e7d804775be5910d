#pragma once
// The IDX format of MNIST and Fashion-MNIST (LeCun et al.): a big-endian magic number
// 0x0000TTDD (TT the element type, DD the number of dimensions), DD big-endian uint32
// sizes, then the elements. Read plain or gzip-compressed (.gz, through zlib).
#include <cstdint>
#include <string>
#include <vector>

namespace intrain::data {

struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> values;  // u8 elements (type 0x08), row-major
};

// Reads an unsigned-byte IDX file. Every inconsistency (missing file, bad magic, wrong
// element type, sizes that do not match the file length) throws an Error naming the file.
IdxArray read_idx_u8(const std::string& path);
// The same from the file's (decompressed) bytes; `name` labels the errors.
IdxArray parse_idx_u8(const std::vector<uint8_t>& bytes, const std::string& name);

// Writes an unsigned-byte IDX file (plain, or gzip when the path ends in .gz); for tests.
void write_idx_u8(const std::string& path, const std::vector<int64_t>& dims, const std::vector<uint8_t>& values);

}  // namespace intrain::data
