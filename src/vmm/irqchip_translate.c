/* KVM's interrupt-controller records <-> the userspace ones (irqchip_translate.h). Each
 * direction parses one side's records with that side's own loader, so they are validated as
 * on any load, fills the other side's structures and saves them with that side's own writer. */
#include "vmm/irqchip_translate.h"

#include "accel/kvm/kvm_vm_state.h"
#include "devices/ioapic.h"
#include "devices/pic.h"
#include "devices/pit.h"
#include "machine/layout.h"

#include <string.h>

#define KVM_PIT_MODE_UNSET 0xff /* a channel the guest never programmed */
/* KVM's read/write flip-flop states (RW_STATE_*). */
#define KVM_RW_LSB     1
#define KVM_RW_MSB     2
#define KVM_RW_WORD0   3
#define KVM_RW_WORD1   4
#define PC_ICW3_MASTER 0x04 /* the slave on IR2 */
#define PC_ICW3_SLAVE  0x02 /* its cascade identity */

/* The translation's PITs run on a clock that stands still: a channel saved at once after it
 * was programmed has run no tick, so the loading side starts it afresh. */
static uint64_t still_clock(void *opaque)
{
	(void)opaque;
	return 0;
}

/* ---- the 8259A pair ---- */

/* KVM's priority_add is the IR with the highest priority; `lowest` is the one just below it
 * in the rotation. KVM's last_irr is each input's level as last set, which the userspace
 * model keeps as `lines` and, for edge-triggered inputs, `edge_sense`. */
static void pic_chip_from_kvm(struct pic_chip *c, const struct kvm_pic_state *k, bool master)
{
	c->irr = k->irr, c->isr = k->isr, c->imr = k->imr;
	c->lines = c->edge_sense = k->last_irr;
	c->elcr = k->elcr, c->elcr_mask = k->elcr_mask;
	c->vector_base = k->irq_base;
	c->lowest = (uint8_t)((k->priority_add + 7) & 7);
	c->init_step = k->init_state;
	c->icw3 = master ? PC_ICW3_MASTER : PC_ICW3_SLAVE;
	c->single = false;
	c->icw4_expected = k->init4, c->auto_eoi = k->auto_eoi;
	c->rotate_in_auto_eoi = k->rotate_on_auto_eoi;
	c->fully_nested = k->special_fully_nested_mode;
	c->special_mask = k->special_mask, c->poll = k->poll, c->read_isr = k->read_reg_select;
}

static void pic_chip_to_kvm(const struct pic_chip *c, struct kvm_pic_state *k)
{
	memset(k, 0, sizeof(*k));
	k->irr = c->irr, k->isr = c->isr, k->imr = c->imr;
	k->last_irr = c->lines;
	k->elcr = c->elcr, k->elcr_mask = c->elcr_mask;
	k->irq_base = c->vector_base;
	k->priority_add = (uint8_t)((c->lowest + 1) & 7);
	k->init_state = c->init_step;
	k->init4 = c->icw4_expected, k->auto_eoi = c->auto_eoi;
	k->rotate_on_auto_eoi = c->rotate_in_auto_eoi;
	k->special_fully_nested_mode = c->fully_nested;
	k->special_mask = c->special_mask, k->poll = c->poll, k->read_reg_select = c->read_isr;
}

/* ---- the I/O APIC ---- */

static void ioapic_from_kvm(struct ioapic *io, const struct kvm_ioapic_state *k)
{
	io->id = (uint8_t)k->id;
	io->select = (uint8_t)k->ioregsel;
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++)
		io->redir[pin] = k->redirtbl[pin].bits;
	io->lines = k->irr;
}

static void ioapic_to_kvm(const struct ioapic *io, struct kvm_ioapic_state *k)
{
	memset(k, 0, sizeof(*k));
	k->base_address = LAYOUT_IOAPIC;
	k->id = io->id;
	k->ioregsel = io->select;
	k->irr = io->lines;
	for (unsigned pin = 0; pin < IOAPIC_PINS; pin++)
		k->redirtbl[pin].bits = io->redir[pin];
}

/* ---- the 8254 ---- */

/* Programs a userspace channel as the guest programmed KVM's: the control word, then the
 * count register's bytes (only the low one when the guest had written just that of a
 * 16-bit count). The count restarts, as KVM_SET_PIT2 restarts it. */
static void pit_channel_from_kvm(struct pit *pit, unsigned ch,
				 const struct kvm_pit_channel_state *k)
{
	if (k->mode == KVM_PIT_MODE_UNSET || k->rw_mode == 0)
		return;
	pit_write(pit, PIT_PORT_CONTROL,
		  (uint8_t)(ch << 6 | k->rw_mode << 4 | k->mode << 1 | (k->bcd ? 1 : 0)));
	uint16_t cr = (uint16_t)k->count; /* 65536 is written as 0 */
	uint16_t port = (uint16_t)(PIT_PORT_CHANNEL0 + ch);
	if (k->rw_mode == 3 && k->write_state == KVM_RW_WORD1) {
		pit_write(pit, port, k->write_latch);
		return;
	}
	if (k->rw_mode != 2)
		pit_write(pit, port, (uint8_t)cr);
	if (k->rw_mode != 1)
		pit_write(pit, port, (uint8_t)(cr >> 8));
}

static uint8_t flip_flop(uint8_t access, bool msb_next)
{
	if (access == 3)
		return msb_next ? KVM_RW_WORD1 : KVM_RW_WORD0;
	return access == 2 ? KVM_RW_MSB : KVM_RW_LSB;
}

static void pit_channel_to_kvm(const struct pit_channel *c, struct kvm_pit_channel_state *k)
{
	memset(k, 0, sizeof(*k));
	k->gate = c->gate;
	/* A channel with no count since its control word does not run (KVM's would, from an
	 * older count: a moment's difference only, the guest is about to write one). */
	k->mode = c->loaded ? c->mode : KVM_PIT_MODE_UNSET;
	k->count = c->cr ? c->cr : 0x10000;
	k->rw_mode = c->access;
	k->bcd = c->bcd;
	k->read_state = flip_flop(c->access, c->read_msb_next);
	k->write_state = flip_flop(c->access, c->write_msb_next);
	k->write_latch = c->cr_lsb;
}

/* ---- the two directions ---- */

int irqchip_records_from_kvm(const uint8_t *buf, size_t len, size_t *pos, struct state_writer *w,
			     char *err, size_t err_len)
{
	struct kvm_vm_state k;
	if (kvm_vm_state_load(&k, buf, len, pos, err, err_len) < 0)
		return -1;
	struct pic pic;
	pic_init(&pic, NULL, NULL);
	for (unsigned i = 0; i < 2; i++)
		pic_chip_from_kvm(&pic.chip[i], &k.pic[i], i == 0);
	struct ioapic io;
	ioapic_init(&io, 0, NULL, NULL);
	ioapic_from_kvm(&io, &k.ioapic);
	struct pit pit;
	pit_init(&pit, still_clock, NULL, NULL, NULL, 0);
	/* Channel 2's gate and the speaker enable first, so the gate rules hold as it starts. */
	pit_write(&pit, PIT_PORT_PORTB,
		  (uint8_t)((k.pit.channels[2].gate ? PIT_PORTB_GATE2 : 0) |
			    (k.pit.flags & KVM_PIT_FLAGS_SPEAKER_DATA_ON ? PIT_PORTB_SPEAKER : 0)));
	for (unsigned ch = 0; ch < PIT_CHANNELS; ch++)
		pit_channel_from_kvm(&pit, ch, &k.pit.channels[ch]);
	pic_save(&pic, w);
	ioapic_save(&io, w);
	pit_save(&pit, w);
	return 0;
}

int irqchip_records_to_kvm(const uint8_t *buf, size_t len, size_t *pos, uint64_t clock_ns,
			   uint64_t realtime_ns, struct state_writer *w, char *err, size_t err_len)
{
	struct state_record rec[3];
	static const char *const names[] = {"pic", "ioapic", "pit"};
	size_t at = *pos;
	for (unsigned i = 0; i < 3; i++)
		if (state_record_next(buf, len, &at, names[i], &rec[i], err, err_len) < 0)
			return -1;
	struct pic pic;
	struct ioapic io;
	struct pit pit;
	pic_init(&pic, NULL, NULL);
	ioapic_init(&io, 0, NULL, NULL);
	pit_init(&pit, still_clock, NULL, NULL, NULL, 0);
	if (pic_load(&pic, &rec[0], err, err_len) < 0 ||
	    ioapic_load(&io, &rec[1], err, err_len) < 0 ||
	    pit_load(&pit, &rec[2], err, err_len) < 0)
		return -1;
	struct kvm_vm_state k;
	memset(&k, 0, sizeof(k));
	for (unsigned i = 0; i < 2; i++)
		pic_chip_to_kvm(&pic.chip[i], &k.pic[i]);
	ioapic_to_kvm(&io, &k.ioapic);
	for (unsigned ch = 0; ch < PIT_CHANNELS; ch++)
		pit_channel_to_kvm(&pit.ch[ch], &k.pit.channels[ch]);
	/* Channel 2's gate is port 0x61's bit 0 (KVM keeps it in the channel). */
	k.pit.channels[2].gate = pit.portb & PIT_PORTB_GATE2;
	if (pit.portb & PIT_PORTB_SPEAKER)
		k.pit.flags |= KVM_PIT_FLAGS_SPEAKER_DATA_ON;
	k.clock_ns = clock_ns;
	k.has_realtime = true;
	k.realtime_ns = realtime_ns;
	kvm_vm_state_save(&k, w);
	*pos = at;
	return 0;
}
