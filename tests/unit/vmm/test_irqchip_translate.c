/* Moving the interrupt controllers between KVM's records and the userspace ones
 * (irqchip_translate.h): a PIC pair, I/O APIC and PIT programmed as Linux programs them come
 * back from a trip through the other side's records answering the guest as before; KVM's
 * records come back from a trip through the userspace ones with the same values; a record
 * that is cut or wrong is refused with a sentence and nothing read past. */
#include "vmm/irqchip_translate.h"

#include "accel/kvm/kvm_vm_state.h"
#include "devices/ioapic.h"
#include "devices/pic.h"
#include "devices/pit.h"

#include <criterion/criterion.h>
#include <string.h>

static uint64_t clock_now;

static uint64_t test_clock(void *opaque)
{
	(void)opaque;
	return clock_now;
}

/* The three controllers as after power-up, the PIT on the test's clock. */
static void power_up(struct pic *pic, struct ioapic *io, struct pit *pit)
{
	pic_init(pic, NULL, NULL);
	ioapic_init(io, 0, NULL, NULL);
	pit_init(pit, test_clock, NULL, NULL, NULL, 0);
}

/* Linux's 8259A setup (init_8259A): edge-triggered cascade, vectors 0x30 and 0x38. */
static void program_like_linux(struct pic *pic)
{
	const uint16_t cmd[2] = {PIC_MASTER_CMD, PIC_SLAVE_CMD};
	const uint8_t icw2[2] = {0x30, 0x38}, icw3[2] = {0x04, 0x02};
	for (unsigned i = 0; i < 2; i++) {
		pic_write(pic, cmd[i], 0x11); /* ICW1: edge, cascade, ICW4 */
		pic_write(pic, (uint16_t)(cmd[i] + 1), icw2[i]);
		pic_write(pic, (uint16_t)(cmd[i] + 1), icw3[i]);
		pic_write(pic, (uint16_t)(cmd[i] + 1), 0x01); /* ICW4: 8086 mode */
	}
	pic_write(pic, PIC_MASTER_DATA, 0xb8); /* IRQ 0, 1, 2 and 6 unmasked */
	pic_write(pic, PIC_SLAVE_DATA, 0xfe);  /* IRQ 8 unmasked */
}

/* The three userspace records of `pic`, `io` and `pit`. */
static void save_userspace(struct pic *pic, struct ioapic *io, struct pit *pit,
			   struct state_writer *w)
{
	state_writer_init(w);
	pic_save(pic, w);
	ioapic_save(io, w);
	pit_save(pit, w);
	cr_assert_not(state_writer_failed(w));
}

/* Userspace -> KVM -> userspace, loaded into fresh controllers. */
static void round_trip_userspace(struct state_writer *in, struct pic *pic, struct ioapic *io,
				 struct pit *pit)
{
	char err[256] = "";
	struct state_writer kvm, back;
	state_writer_init(&kvm);
	state_writer_init(&back);
	size_t pos = 0;
	cr_assert_eq(irqchip_records_to_kvm(in->buf, in->len, &pos, 5000000000ULL, 1, &kvm, err,
					    sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(pos, in->len);
	pos = 0;
	cr_assert_eq(irqchip_records_from_kvm(kvm.buf, kvm.len, &pos, &back, err, sizeof(err)), 0,
		     "%s", err);
	cr_assert_eq(pos, kvm.len);
	struct state_record rec;
	pos = 0;
	power_up(pic, io, pit);
	cr_assert_eq(state_record_next(back.buf, back.len, &pos, "pic", &rec, err, sizeof(err)), 0);
	cr_assert_eq(pic_load(pic, &rec, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(state_record_next(back.buf, back.len, &pos, "ioapic", &rec, err, sizeof(err)),
		     0);
	cr_assert_eq(ioapic_load(io, &rec, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(state_record_next(back.buf, back.len, &pos, "pit", &rec, err, sizeof(err)), 0);
	cr_assert_eq(pit_load(pit, &rec, err, sizeof(err)), 0, "%s", err);
	state_writer_free(&kvm);
	state_writer_free(&back);
}

Test(irqchip_translate, a_pic_in_service_answers_the_same_after_a_trip_through_kvm)
{
	struct pic pic, got;
	struct ioapic io, got_io;
	struct pit pit, got_pit;
	clock_now = 0;
	power_up(&pic, &io, &pit);
	program_like_linux(&pic);
	/* IRQ 1 taken (in service), IRQ 6 and 8 requested, IRQ 3 requested but masked. */
	pic_set_irq(&pic, 1, true);
	cr_assert_eq(pic_acknowledge(&pic), 0x31);
	pic_set_irq(&pic, 6, true);
	pic_set_irq(&pic, 8, true);
	pic_set_irq(&pic, 3, true);
	pic_write(&pic, PIC_MASTER_CMD, 0x0b); /* OCW3: reads give the ISR */
	struct state_writer w;
	save_userspace(&pic, &io, &pit, &w);
	round_trip_userspace(&w, &got, &got_io, &got_pit);
	for (unsigned i = 0; i < 2; i++) {
		cr_assert_eq(got.chip[i].irr, pic.chip[i].irr, "chip %u IRR", i);
		cr_assert_eq(got.chip[i].isr, pic.chip[i].isr, "chip %u ISR", i);
		cr_assert_eq(got.chip[i].imr, pic.chip[i].imr, "chip %u IMR", i);
		cr_assert_eq(got.chip[i].vector_base, pic.chip[i].vector_base);
		cr_assert_eq(got.chip[i].lowest, pic.chip[i].lowest);
		cr_assert_eq(got.chip[i].read_isr, pic.chip[i].read_isr);
	}
	cr_assert_eq(pic_read(&got, PIC_MASTER_CMD), pic_read(&pic, PIC_MASTER_CMD), "ISR read");
	/* IRQ 1 is still in service: nothing of lower priority comes before its EOI, then IRQ 2's
	 * cascade (IRQ 8, vector 0x38) and IRQ 6, as on the original. */
	for (int step = 0; step < 3; step++) {
		pic_write(&got, PIC_MASTER_CMD, 0x20);
		pic_write(&pic, PIC_MASTER_CMD, 0x20);
		uint8_t want = pic_acknowledge(&pic), have = pic_acknowledge(&got);
		cr_assert_eq(have, want, "INTA %d: vector %#x, want %#x", step, have, want);
	}
	state_writer_free(&w);
}

Test(irqchip_translate, the_io_apic_and_a_periodic_pit_come_back_as_programmed)
{
	struct pic pic, got;
	struct ioapic io, got_io;
	struct pit pit, got_pit;
	clock_now = 1000;
	power_up(&pic, &io, &pit);
	io.id = 1;
	io.select = 0x13;
	io.redir[2] = 0x0000000000000030ULL;		 /* the timer, edge */
	io.redir[11] = 0x010000000000c041ULL | 1u << 14; /* level, remote IRR set */
	io.lines = 1u << 11;
	/* Channel 0: 100 Hz rate generator; channel 2: mode 0, gate on, speaker on. */
	pit_write(&pit, PIT_PORT_CONTROL, 0x34);
	pit_write(&pit, PIT_PORT_CHANNEL0, 0x9c);
	pit_write(&pit, PIT_PORT_CHANNEL0, 0x2e);
	pit_write(&pit, PIT_PORT_PORTB, PIT_PORTB_GATE2 | PIT_PORTB_SPEAKER);
	pit_write(&pit, PIT_PORT_CONTROL, 0xb0);
	pit_write(&pit, PIT_PORT_CHANNEL0 + 2, 0xff);
	pit_write(&pit, PIT_PORT_CHANNEL0 + 2, 0xff);
	struct state_writer w;
	save_userspace(&pic, &io, &pit, &w);
	clock_now = 7000000;
	round_trip_userspace(&w, &got, &got_io, &got_pit);
	cr_assert_eq(got_io.id, 1);
	cr_assert_eq(got_io.select, 0x13);
	cr_assert_eq(got_io.lines, 1u << 11);
	cr_assert_eq(memcmp(got_io.redir, io.redir, sizeof(io.redir)), 0, "redirection table");
	cr_assert_eq(got_pit.portb & 3, PIT_PORTB_GATE2 | PIT_PORTB_SPEAKER);
	cr_assert_eq(got_pit.ch[0].mode, 2);
	cr_assert_eq(got_pit.ch[0].cr, 0x2e9c);
	cr_assert_eq(got_pit.ch[2].mode, 0);
	cr_assert_eq(got_pit.ch[2].cr, 0xffff);
	/* Channel 0 counts a full period again from the load: its next IRQ0 edge is 10 ms away. */
	uint64_t period_ns = 0x2e9cULL * 1000000000ULL / PIT_HZ;
	uint64_t next = pit_deadline(&got_pit);
	cr_assert(next > clock_now && next - clock_now <= period_ns + 1000 &&
		      next - clock_now + 1000 >= period_ns,
		  "next IRQ0 edge %llu ns after the load, want about %llu",
		  (unsigned long long)(next - clock_now), (unsigned long long)period_ns);
	state_writer_free(&w);
}

/* KVM's state as a Linux guest leaves it, through the userspace records and back. */
Test(irqchip_translate, kvm_records_come_back_from_the_userspace_ones_with_the_same_values)
{
	struct kvm_vm_state k;
	memset(&k, 0, sizeof(k));
	for (unsigned i = 0; i < 2; i++) {
		struct kvm_pic_state *c = &k.pic[i];
		c->irq_base = i ? 0x38 : 0x30;
		c->imr = i ? 0xfe : 0xb8;
		c->isr = i ? 0 : 0x02;
		c->irr = i ? 0x01 : 0x44; /* IRQ 8 requested, so the master's IR2 too */
		c->last_irr = c->irr;
		c->priority_add = 3;
		c->init4 = 1;
		c->elcr_mask = i ? 0xde : 0xf8;
		c->elcr = i ? 0x0c : 0x20;
	}
	k.ioapic.base_address = 0xfec00000ULL;
	k.ioapic.id = 0;
	k.ioapic.ioregsel = 0x10;
	k.ioapic.irr = 1u << 9;
	k.ioapic.redirtbl[9].bits = 0x000000000000a029ULL | 1u << 14;
	k.pit.channels[0] = (struct kvm_pit_channel_state){.count = 0x10000,
							   .rw_mode = 3,
							   .mode = 0,
							   .read_state = 3,
							   .write_state = 3,
							   .gate = 1};
	k.pit.channels[1] = (struct kvm_pit_channel_state){.mode = 0xff, .gate = 1};
	k.pit.channels[2] = (struct kvm_pit_channel_state){
	    .count = 0x2e9c, .rw_mode = 3, .mode = 2, .read_state = 3, .write_state = 3, .gate = 1};
	k.pit.flags = KVM_PIT_FLAGS_SPEAKER_DATA_ON;
	struct state_writer w, user, back;
	state_writer_init(&w);
	state_writer_init(&user);
	state_writer_init(&back);
	kvm_vm_state_save(&k, &w);
	char err[256] = "";
	size_t pos = 0;
	cr_assert_eq(irqchip_records_from_kvm(w.buf, w.len, &pos, &user, err, sizeof(err)), 0, "%s",
		     err);
	pos = 0;
	cr_assert_eq(
	    irqchip_records_to_kvm(user.buf, user.len, &pos, 123, 456, &back, err, sizeof(err)), 0,
	    "%s", err);
	struct kvm_vm_state got;
	pos = 0;
	cr_assert_eq(kvm_vm_state_load(&got, back.buf, back.len, &pos, err, sizeof(err)), 0, "%s",
		     err);
	for (unsigned i = 0; i < 2; i++) {
		const uint8_t *a = (const uint8_t *)&got.pic[i], *b = (const uint8_t *)&k.pic[i];
		for (size_t f = 0; f < sizeof(k.pic[i]); f++)
			cr_assert_eq(a[f], b[f],
				     "PIC %u: byte %zu of struct kvm_pic_state is %#x, want %#x", i,
				     f, a[f], b[f]);
	}
	cr_assert_eq(memcmp(&got.ioapic, &k.ioapic, sizeof(k.ioapic)), 0, "the I/O APIC changed");
	for (unsigned ch = 0; ch < 3; ch++) {
		const struct kvm_pit_channel_state *a = &got.pit.channels[ch],
						   *b = &k.pit.channels[ch];
		cr_assert_eq(a->mode, b->mode, "channel %u mode %u, want %u", ch, a->mode, b->mode);
		cr_assert_eq(a->gate, b->gate, "channel %u gate", ch);
		if (b->mode != 0xff) {
			cr_assert_eq(a->count, b->count, "channel %u count %#x", ch, a->count);
			cr_assert_eq(a->rw_mode, b->rw_mode, "channel %u access", ch);
			cr_assert_eq(a->write_state, b->write_state, "channel %u flip-flop", ch);
		}
	}
	cr_assert_eq(got.pit.flags, k.pit.flags);
	cr_assert_eq(got.clock_ns, 123);
	cr_assert(got.has_realtime && got.realtime_ns == 456);
	state_writer_free(&w);
	state_writer_free(&user);
	state_writer_free(&back);
}

Test(irqchip_translate, cut_or_wrong_records_are_refused)
{
	struct pic pic;
	struct ioapic io;
	struct pit pit;
	power_up(&pic, &io, &pit);
	struct state_writer w, out;
	save_userspace(&pic, &io, &pit, &w);
	state_writer_init(&out);
	char err[256] = "";
	size_t pos = 0;
	cr_assert_eq(irqchip_records_to_kvm(w.buf, w.len - 1, &pos, 0, 0, &out, err, sizeof(err)),
		     -1);
	cr_assert_eq(pos, 0, "a refusal read past the start");
	cr_assert_neq(err[0], '\0', "a refusal without a reason");
	/* The userspace records where KVM's are expected. */
	err[0] = '\0';
	cr_assert_eq(irqchip_records_from_kvm(w.buf, w.len, &pos, &out, err, sizeof(err)), -1);
	cr_assert_eq(pos, 0);
	cr_assert(strstr(err, "kvm-pic"), "%s", err);
	state_writer_free(&w);
	state_writer_free(&out);
}
