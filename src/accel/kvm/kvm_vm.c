#include "accel/accel.h"

const struct accel_ops kvm_accel_ops = {.name = "kvm"};
