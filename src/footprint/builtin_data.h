// The data files of data/, compiled in by cmake/embed_data.cmake. Each is the file's full text.
#ifndef SOBRE_FOOTPRINT_BUILTIN_DATA_H_
#define SOBRE_FOOTPRINT_BUILTIN_DATA_H_

namespace sobre::footprint {

extern const char kData_carbon_intensity[];
extern const char kData_hardware_gpus[];
extern const char kData_hardware_cpus[];
extern const char kData_hardware_servers[];

}  // namespace sobre::footprint

#endif  // SOBRE_FOOTPRINT_BUILTIN_DATA_H_
