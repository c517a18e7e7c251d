import sys

from seqlab.kernels import main

sys.exit(main())
