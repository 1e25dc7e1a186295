from edgeattn.cli import main

main()
