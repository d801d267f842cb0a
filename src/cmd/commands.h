/* Entry points of the subcommands; each takes argv with argv[0] being the subcommand name. */
#ifndef GUREUM_CMD_COMMANDS_H
#define GUREUM_CMD_COMMANDS_H

int cmd_run(int argc, char **argv);
/* `gureum ctl`: one request to a running VM's control socket (src/cmd/ctl.c). */
int cmd_ctl(int argc, char **argv);
/* `gureum vm`: the host daemon's VMs, through gureumd's socket (src/cmd/vm.c). */
int cmd_vm(int argc, char **argv);
/* `gureum cpu`: CPU models, host descriptions, baseline and compare (src/cmd/cpu.c). */
int cmd_cpu(int argc, char **argv);
/* `gureum net`: virtual switches (src/cmd/net.c). */
int cmd_net(int argc, char **argv);

#endif
