from tensorgate.cli import main

main()
