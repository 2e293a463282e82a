# Experiment `softtext`: see DESIGN.md and config/README.md.


def softtext_final_output():
    return []
