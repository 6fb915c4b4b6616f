package app

// Subcommand returns the non-daemon mode named name (`canopyd replay …`,
// `canopyd report …`, `canopyd pipe test …`, `canopyd gen …`,
// `canopyd version`), or nil.
func Subcommand(name string) func(args []string) error {
	switch name {
	case "gen":
		return cmdGen
	case "pipe":
		return cmdPipe
	case "replay":
		return cmdReplay
	case "report":
		return cmdReport
	case "version":
		return cmdVersion
	}
	return nil
}
