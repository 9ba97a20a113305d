// Footprint: energy, carbon, water and embodied carbon of one piece of work, with the provenance
// of every figure. The conversion rules live here so that every command applies them the same way.
#ifndef SOBRE_FOOTPRINT_FOOTPRINT_H_
#define SOBRE_FOOTPRINT_FOOTPRINT_H_

#include <optional>
#include <string>
#include <vector>

#include "core/units.h"
#include "footprint/energy_counter.h"
#include "footprint/intensity.h"

namespace sobre::footprint {

// The energy of one component of the machine and how it was obtained.
struct ComponentEnergy {
  Component component = Component::kCpu;
  std::string label;     // "RAPL package-0 (socket 0)", "CPU (TDP model)".
  bool measured = false; // True for a hardware counter, false for a model.
  std::string method;    // How: counter name, or the model and its constants.
  Joules machine;        // The whole machine's energy for this component.
  Joules attributed;     // The part charged to the work being measured.
};

// A piece of hardware whose manufacturing footprint is amortised over the work.
struct EmbodiedItem {
  std::string name;             // "generic-server", "NVIDIA A100-SXM4-80GB".
  double kgco2e = 0;            // Whole-life manufacturing footprint, kgCO2e.
  double lifetime_hours = 0;    // Amortisation period, hours.
  double share = 1.0;           // Fraction of the item charged to the work, in [0, 1].
  std::string source;
};

struct FootprintInputs {
  std::vector<ComponentEnergy> components;
  Seconds duration{0};
  double pue = 1.0;                       // Facility energy / IT energy, >= 1.
  std::string pue_source;                 // "default (a machine outside a data centre)", "--pue".
  std::optional<double> wue_l_per_kwh;    // On-site water usage effectiveness, L per IT kWh.
  Intensity intensity;                    // Location-based grid intensity.
  std::vector<EmbodiedItem> embodied;
};

struct EmbodiedShare {
  EmbodiedItem item;
  GramsCo2e amortised;
};

struct Footprint {
  Joules it_energy;           // Sum of the attributed component energies.
  Joules machine_it_energy;   // Sum of the whole-machine component energies.
  Joules energy;              // it_energy x PUE: what the grid delivered for the work.
  GramsCo2e co2e;             // energy x intensity.
  std::optional<Litres> water;  // WUE x IT energy (The Green Grid's definition); unset without WUE.
  GramsCo2e embodied_co2e;    // Sum of the amortised embodied shares.
  std::vector<EmbodiedShare> embodied;
  bool measured = false;      // True only when every component came from a hardware counter.
  FootprintInputs inputs;     // What it was computed from, for printing.
};

// Boavizta's linear allocation: kgco2e x min(1, duration / lifetime), in grams.
GramsCo2e AmortiseEmbodied(double kgco2e, Seconds duration, double lifetime_hours);

// Applies PUE, intensity, WUE and embodied amortisation to the component energies.
Footprint ComputeFootprint(FootprintInputs inputs);

}  // namespace sobre::footprint

#endif  // SOBRE_FOOTPRINT_FOOTPRINT_H_
