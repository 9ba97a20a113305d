// FakePowercapTree: builds a fake Linux powercap sysfs tree in a temp dir for RAPL tests.
// Header-only; reuse it from any test that needs RAPL domains.
#ifndef SOBRE_TESTS_FOOTPRINT_FAKE_POWERCAP_H_
#define SOBRE_TESTS_FOOTPRINT_FAKE_POWERCAP_H_

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

namespace sobre::footprint {

// A temp directory laid out like sysfs:
//   <base>/devices/virtual/powercap/intel-rapl/intel-rapl:0/intel-rapl:0:2/{name,energy_uj,...}
//   <base>/class/powercap/intel-rapl:0 -> <base>/devices/.../intel-rapl:0   (a symlink per zone
//   and per control-type directory, as on a real machine)
// root() plays /sys/class/powercap. The directory is removed on destruction. Failures to build
// the tree are reported as GoogleTest failures. Thread-compatible.
class FakePowercapTree {
 public:
  // The range of a 32-bit counter in 2^-14 J units, as real machines report it.
  static constexpr uint64_t kTypicalMaxRangeUj = 262143328850;

  FakePowercapTree() {
    std::string pattern = ::testing::TempDir() + "sobre_powercap_XXXXXX";
    std::vector<char> buffer(pattern.begin(), pattern.end());
    buffer.push_back('\0');
    if (::mkdtemp(buffer.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp " << pattern << " failed";
      return;
    }
    base_ = buffer.data();
    root_ = base_ + "/class/powercap";
    devices_root_ = base_ + "/devices/virtual/powercap";
    MakeDirs(root_);
    MakeDirs(devices_root_);
  }
  ~FakePowercapTree() {
    if (base_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(base_, ec);
  }
  FakePowercapTree(const FakePowercapTree&) = delete;
  FakePowercapTree& operator=(const FakePowercapTree&) = delete;

  // The directory to hand to DiscoverRapl, standing for /sys/class/powercap.
  const std::string& root() const { return root_; }
  // The nested device tree, standing for /sys/devices/virtual/powercap (no symlinks in it).
  const std::string& devices_root() const { return devices_root_; }

  // Adds zone `zone` ("intel-rapl:0", "intel-rapl:0:2", "intel-rapl-mmio:0") with files `name`,
  // `energy_uj` and, when given, `max_energy_range_uj`. With `parent` ("intel-rapl:0", added
  // before) the zone directory goes inside the parent's, as sysfs nests subzones; otherwise it
  // goes inside its control-type directory, which is created on first use. Returns the zone's
  // real directory.
  std::string AddZone(const std::string& zone, const std::string& name, uint64_t energy_uj,
                      std::optional<uint64_t> max_energy_range_uj = kTypicalMaxRangeUj,
                      const std::string& parent = "") {
    std::string dir;
    if (parent.empty()) {
      const std::string type = zone.substr(0, zone.find(':'));
      const std::string type_dir = devices_root_ + "/" + type;
      if (!std::filesystem::exists(type_dir)) {
        MakeDirs(type_dir);
        WriteFile(type_dir + "/enabled", "1\n");
        Symlink(type_dir, root_ + "/" + type);
      }
      dir = type_dir + "/" + zone;
    } else {
      auto it = zone_dirs_.find(parent);
      if (it == zone_dirs_.end()) {
        ADD_FAILURE() << "parent zone " << parent << " of " << zone << " was not added";
        return "";
      }
      dir = it->second + "/" + zone;
    }
    MakeDirs(dir);
    WriteFile(dir + "/name", name + "\n");
    WriteFile(dir + "/energy_uj", std::to_string(energy_uj) + "\n");
    if (max_energy_range_uj.has_value()) {
      WriteFile(dir + "/max_energy_range_uj", std::to_string(*max_energy_range_uj) + "\n");
    }
    Symlink(dir, root_ + "/" + zone);
    zone_dirs_[zone] = dir;
    return dir;
  }

  // Rewrites energy_uj in place (same inode), so counters holding it open see the new value.
  void SetEnergy(const std::string& zone, uint64_t energy_uj) {
    SetEnergyText(zone, std::to_string(energy_uj) + "\n");
  }
  // Writes arbitrary bytes to energy_uj, for malformed readings.
  void SetEnergyText(const std::string& zone, const std::string& text) {
    WriteFile(ZoneDir(zone) + "/energy_uj", text);
  }

  // Replaces energy_uj with a directory: open() succeeds but read() fails with EISDIR, for root
  // too (root reads a chmod-000 file anyway).
  void MakeEnergyUnreadable(const std::string& zone) {
    const std::string path = ZoneDir(zone) + "/energy_uj";
    std::error_code ec;
    std::filesystem::remove(path, ec);
    if (ec) ADD_FAILURE() << "removing " << path << ": " << ec.message();
    MakeDirs(path);
  }

  // chmod 000 on energy_uj, as the CVE-2020-8694 fix does for non-root users. Has no effect on
  // a test running as root.
  void ChmodEnergy000(const std::string& zone) {
    const std::string path = ZoneDir(zone) + "/energy_uj";
    if (::chmod(path.c_str(), 0) != 0) ADD_FAILURE() << "chmod 000 " << path << " failed";
  }

  // The real directory of a zone added before.
  std::string ZoneDir(const std::string& zone) const {
    auto it = zone_dirs_.find(zone);
    if (it == zone_dirs_.end()) {
      ADD_FAILURE() << "zone " << zone << " was not added";
      return base_ + "/missing";
    }
    return it->second;
  }

 private:
  static void MakeDirs(const std::string& dir) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) ADD_FAILURE() << "creating " << dir << ": " << ec.message();
  }
  static void WriteFile(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::out | std::ios::trunc | std::ios::binary);
    out << text;
    out.close();
    if (!out) ADD_FAILURE() << "writing " << path;
  }
  static void Symlink(const std::string& target, const std::string& link) {
    std::error_code ec;
    std::filesystem::create_directory_symlink(target, link, ec);
    if (ec) ADD_FAILURE() << "symlink " << link << " -> " << target << ": " << ec.message();
  }

  std::string base_;
  std::string root_;
  std::string devices_root_;
  std::map<std::string, std::string> zone_dirs_;  // zone name -> real directory
};

}  // namespace sobre::footprint

#endif  // SOBRE_TESTS_FOOTPRINT_FAKE_POWERCAP_H_
