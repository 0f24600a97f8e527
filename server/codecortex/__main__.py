from codecortex.cli.main import main

raise SystemExit(main())
