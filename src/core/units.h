// Strong unit types for energy, power, carbon and water, so that a watt-hour is never added to a
// joule by accident. Values are doubles in the unit the type names.
#ifndef SOBRE_CORE_UNITS_H_
#define SOBRE_CORE_UNITS_H_

#include <chrono>
#include <compare>

namespace sobre {

// A double tagged with its unit. Same-unit arithmetic only; convert with the functions below.
template <typename Tag>
class Quantity {
 public:
  constexpr Quantity() = default;
  constexpr explicit Quantity(double value) : value_(value) {}
  constexpr double value() const { return value_; }

  constexpr Quantity& operator+=(Quantity o) { value_ += o.value_; return *this; }
  constexpr Quantity& operator-=(Quantity o) { value_ -= o.value_; return *this; }
  friend constexpr Quantity operator+(Quantity a, Quantity b) { return Quantity(a.value_ + b.value_); }
  friend constexpr Quantity operator-(Quantity a, Quantity b) { return Quantity(a.value_ - b.value_); }
  friend constexpr Quantity operator*(Quantity a, double k) { return Quantity(a.value_ * k); }
  friend constexpr Quantity operator*(double k, Quantity a) { return Quantity(a.value_ * k); }
  friend constexpr Quantity operator/(Quantity a, double k) { return Quantity(a.value_ / k); }
  friend constexpr double operator/(Quantity a, Quantity b) { return a.value_ / b.value_; }
  friend constexpr auto operator<=>(Quantity a, Quantity b) = default;

 private:
  double value_ = 0.0;
};

struct JoulesTag {};
struct WattHoursTag {};
struct KilowattHoursTag {};
struct WattsTag {};
struct GramsCo2eTag {};
struct LitresTag {};

using Joules = Quantity<JoulesTag>;
using WattHours = Quantity<WattHoursTag>;
using KilowattHours = Quantity<KilowattHoursTag>;
using Watts = Quantity<WattsTag>;
using GramsCo2e = Quantity<GramsCo2eTag>;
using Litres = Quantity<LitresTag>;

// Seconds as a double, the unit every integration below uses.
using Seconds = std::chrono::duration<double>;

constexpr WattHours ToWattHours(Joules j) { return WattHours(j.value() / 3600.0); }
constexpr KilowattHours ToKilowattHours(Joules j) { return KilowattHours(j.value() / 3.6e6); }
constexpr KilowattHours ToKilowattHours(WattHours wh) { return KilowattHours(wh.value() / 1000.0); }
constexpr Joules ToJoules(WattHours wh) { return Joules(wh.value() * 3600.0); }
constexpr Joules ToJoules(KilowattHours kwh) { return Joules(kwh.value() * 3.6e6); }
constexpr WattHours ToWattHours(KilowattHours kwh) { return WattHours(kwh.value() * 1000.0); }

// Energy of a constant power held for a duration.
constexpr Joules EnergyOf(Watts p, Seconds t) { return Joules(p.value() * t.count()); }
// Mean power of an energy spread over a duration; zero for an empty duration.
constexpr Watts PowerOf(Joules e, Seconds t) {
  return t.count() > 0 ? Watts(e.value() / t.count()) : Watts(0);
}

// Carbon of an energy at an intensity in gCO2e/kWh.
constexpr GramsCo2e CarbonOf(KilowattHours e, double intensity_g_per_kwh) {
  return GramsCo2e(e.value() * intensity_g_per_kwh);
}

}  // namespace sobre

#endif  // SOBRE_CORE_UNITS_H_
