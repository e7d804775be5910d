#pragma once
// Facts about the running process, for reports.
namespace intrain {

// Peak resident memory of the process so far, in MiB.
double peak_memory_mib();

}  // namespace intrain
